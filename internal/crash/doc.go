// Package crash holds the step boundaries at which the crash tests kill
// the process. Built with the crashtest tag, At kills the process with
// SIGKILL when EXCHANGED_CRASH_AT names the step, and Reader kills it
// halfway through a stream; built without it (every release build), both
// do nothing and nothing of them is in the binary.
package crash
