#!/usr/bin/env node
// iocatcher admin command (ls, stat, rm, get, put, flush, cow, stats). IOC_DIST_DIR selects another TypeScript build output.
const path = require('path');
require(path.join(process.env.IOC_DIST_DIR || path.join(__dirname, '..', 'dist'), 'src', 'admin', 'cli')).main();
