package pipeline

import "path/filepath"

// StorageDir is the directory a component keeps its state in under
// storageDir (storage.directory): the Settings.StorageDir its factory gets.
// kind is "receiver", "processor", "exporter" or "connector". For an
// exporter with a disk queue it is the queue's directory.
func StorageDir(storageDir, kind string, id ID) string {
	return filepath.Join(storageDir, storageName(kind, id))
}
