/**
 * Installed once by .mocharc.json before any spec is loaded: mocha loads every spec before
 * running one, and a second `setMocks` would silently replace the first.
 */
import { installMocks } from "../scripts/plan/recorder";
import { PROJECT } from "../scripts/plan/harness";

installMocks(PROJECT, "test");
