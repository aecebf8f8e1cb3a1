// Package uplink is the uplink budget: one token bucket, in bytes, shared
// by the senders of every exporter (`uplink.bytes_per_second`, `burst`), so
// that all of outpost together stays under the node's uplink rate.
//
// Each exporter registers a Client with a weight. A sender calls Wait with
// the size of the request body as it will go on the wire (after
// compression) before sending it, and afterwards Adjust if the real size
// differed (an attempt refused before sending anything gives its whole
// grant back) and Sent with the bytes the transport actually wrote. Sent
// counts them in outpost_uplink_bytes_total, so a granted attempt that
// never reached the wire counts nothing; Wait counts the time spent
// waiting in outpost_uplink_wait_seconds_total, per exporter;
// the rate and burst are exported as gauges (both 0 when unlimited).
//
// # Rate
//
// The bucket holds up to Burst bytes and refills at BytesPerSecond; it
// starts full. A request waits until the bucket holds its size, then takes
// it. A request larger than the bucket waits until the bucket is full and
// then takes its whole size, leaving the bucket in debt that later
// requests wait out: nothing is refused for being large, and the long-run
// rate still holds. Over any run the bytes granted are at most burst +
// rate × elapsed (plus, while a request larger than the burst is being
// paid off, its excess over the burst); under constant demand they are at
// least rate × elapsed minus one request. A burst of 0 means one second of
// the rate, but at least 64 KiB.
//
// # Fairness
//
// While several clients wait, the bucket is shared by weighted fair
// queueing over bytes: each client has a virtual time advanced by n/weight
// on each grant, and the client whose next request would finish first in
// virtual time goes next; a client's own requests go in arrival order. A
// client that starts waiting after being idle starts at the current global
// virtual time, so idleness banks no credit: the only thing a quiet spell
// earns is the shared bucket's burst. Weights are relative; they give no
// client a floor or a cap while others are idle.
//
// # Mechanics
//
// There is no goroutine of the package's own. Callers block in their own
// goroutine: only the head waiter (the one that may take tokens next)
// sleeps on a timer, set for when the bucket will hold its request; the
// others sleep on a channel until a grant, cancellation, Close, Adjust or
// Reconfigure makes one of them the head or may let it go sooner. With no
// one waiting and enough tokens, Wait takes a mutex and returns without
// allocating. A cancelled or closed Wait takes nothing.
//
// Written by hand because golang.org/x/time/rate (not a dependency) refuses
// requests above the burst and has no fairness between waiters, and a
// weighted queue in front of it would need the same bookkeeping as this.
//
// # Not done here
//
// The budget does not send, compress or measure anything: callers say how
// many bytes they put on the wire. It knows nothing of priority lanes (a
// sender drains its queue's lanes in order and waits for each request),
// of retries, or of memory. Its state is not persisted: after a restart or
// a change from unlimited the bucket starts full. With an unlimited budget
// Wait never blocks and Sent still counts.
package uplink
