/** Grading a class (`gradeClass`, what `linedrop grade` runs) and the reporters' formats, for programs. */
export { DEFAULT_TIME_LIMIT_MS, gradeClass, NoNamespaces, OutNotOurs, writeClassFiles, type GradeOptions } from './grade.js';
export { findSubmissions, NoSubmissions, type Submission } from './submissions.js';
export type { ClassReport, GradedSubmission, Isolation, Verdict } from './types.js';
export { checksCsv, gradesCsv } from '../reporters/csv.js';
export { gradescopeJson, gradescopeResults, type GradescopeOptions, type GradescopeResults, type GradescopeTest } from '../reporters/gradescope.js';
export { classIndexHtml, submissionHtml } from '../reporters/html.js';
export { junitXml, type JunitSuite } from '../reporters/junit.js';
export { reportJson, submissionJson } from '../reporters/json.js';
