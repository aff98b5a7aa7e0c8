#!/usr/bin/env node
// Installed package: run the compiled CLI. From a checkout, `npm start` runs the TypeScript source.
import '../dist/cli.js';
