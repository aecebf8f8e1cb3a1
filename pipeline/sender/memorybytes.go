package sender

import "github.com/outpost-edge/outpost/pipeline/queue"

// MemoryBytes is what the queue reserves out of memory_limit when it opens:
// MaxBytes for an enabled memory queue, else 0. The configs package finds
// it on exporter configurations (by this method) to refuse, when a
// configuration is loaded, memory queues that could not open.
func (c QueueConfig) MemoryBytes() int64 {
	if !c.Enabled || queue.Kind(c.Kind) != queue.KindMemory {
		return 0
	}
	return int64(c.MaxBytes)
}
