#!/usr/bin/env python3
"""Reads grading output with Python's own parsers, for the tests (an independent reader).

  parse.py junit FILE   -> JSON: the <testsuites> totals, and each suite with its totals and cases
  parse.py csv FILE     -> JSON: the rows, as lists of fields (csv module, RFC 4180 dialect)
Exits 1 with the parser's message when the file is not well-formed.
"""
import csv
import json
import sys
import xml.etree.ElementTree as ET


def junit(path):
    root = ET.parse(path).getroot()
    attrs = ('tests', 'failures', 'errors', 'skipped')
    out = {'tag': root.tag, **{a: int(root.get(a, '-1')) for a in attrs}, 'suites': []}
    for suite in root.findall('testsuite'):
        cases = []
        for case in suite.findall('testcase'):
            kinds = [child.tag for child in case if child.tag in ('failure', 'error', 'skipped')]
            outcome = kinds[0] if kinds else 'pass'
            message = case.find(outcome).get('message') if kinds else None
            cases.append({'name': case.get('name'), 'classname': case.get('classname'), 'outcome': outcome, 'message': message})
        props = {p.get('name'): p.get('value') for p in suite.iter('property')}
        out['suites'].append({'name': suite.get('name'), **{a: int(suite.get(a, '-1')) for a in attrs}, 'properties': props, 'cases': cases,
                              'system_out': (suite.findtext('system-out') or '')})
    return out


def rows(path):
    with open(path, newline='', encoding='utf-8') as f:
        return list(csv.reader(f))


try:
    kind, path = sys.argv[1], sys.argv[2]
    print(json.dumps(junit(path) if kind == 'junit' else rows(path)))
except ET.ParseError as e:
    print('not well-formed:', e, file=sys.stderr)
    sys.exit(1)
