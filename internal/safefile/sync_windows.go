package safefile

// SyncDir is a no-op: Windows cannot flush a directory handle
// (FlushFileBuffers fails with "Access is denied", golang/go#75541), and
// NTFS journals the rename itself.
func SyncDir(string) error { return nil }

func syncDirs([]string) error { return nil }
