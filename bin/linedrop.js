#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Standard input may still be open (a terminal): leave once what was printed is out.
process.stdout.write('', () => process.exit(code));
