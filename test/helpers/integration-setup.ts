import { installWorkerLogging } from '../../src/temporal/worker.js';

// Workers in tests log only warnings and errors; their INFO lines drown the test report.
installWorkerLogging('warn');
