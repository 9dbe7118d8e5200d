// Package endpoint is the contract between the life of a file (package
// exchange) and the places files live: the Endpoint and WriteFile
// interfaces, FileInfo, the sentinel errors every implementation returns,
// their one classification (permanent, transient, fatal), and the checks
// on file names. It knows no implementation: those live in its
// subpackages sftp and local, and endpointtest holds the conformance
// suite that each of them runs.
package endpoint
