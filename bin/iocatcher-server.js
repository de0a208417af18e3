#!/usr/bin/env node
require('../dist/src/server/cli').main();
