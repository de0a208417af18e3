#!/usr/bin/env node
// IOC_DIST_DIR selects another TypeScript build output (default: ../dist).
const path = require('path');
require(path.join(process.env.IOC_DIST_DIR || path.join(__dirname, '..', 'dist'), 'src', 'server', 'cli')).main();
