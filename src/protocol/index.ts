export * from './decoder.js';
export * from './encoder.js';
export * from './errors.js';
export * from './limits.js';
export { LineScanner, scanLines } from './line-scanner.js';
export * from './messages.js';
export * from './status.js';
