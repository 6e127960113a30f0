package sqlstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/store"
)

// The record journal (SQLite only): the records of read-only API calls
// are appended to a file beside the database (<database>-records) with one
// write(2) and committed to the database by a goroutine of the Store, many
// at a time, instead of each caller waiting for a commit of its own. The
// write puts the record in the operating system's hands, so a crash of the
// process loses nothing: the next open commits what the file holds (a
// record already committed is kept as it is) and empties it. The commit
// follows within recordGatherWait (below), and the write-ahead log reaches
// the disk within UnsyncedWindow of it, as every unsynced commit's
// (unsynced.go); the file
// is emptied whenever every record it holds is committed. Readers of the
// events (ListEvents, LastEventTime) first wait for the records
// journalled before they began, so a record is listed as soon as its
// call is answered. Why: each caller waiting for a commit of its own
// (one to three records, 25–45 µs of CPU per record) was about a third
// of the server's CPU per signed call; the write and the journal's
// batches cost 16–21 µs per record, off the answer's path.
//
// When the journal cannot take a record (its commits fail, the file
// cannot be written, too many records wait, the Store is closing),
// AppendEventsUnsynced commits the record itself, as before, and its
// caller hears of a failure. So the next open must commit exactly the
// records the journal took: a write that fails part-way is cut off, and
// when the cut fails too, the frames of that write that reached the file
// still do not count, for the next open commits an append's frames only
// when its last frame is whole (the frame format, below); until the cut
// works, appends commit themselves (a later frame behind a torn one would
// not be found). Why not a header holding the good length: one more
// write per append, for a case that needs two I/O failures in a row.
//
// The open syncs the file's directory once the file exists, before any
// record is taken: without it, a power loss could take away a file
// created by this run, with the answered records in it.

// recordJournalSuffix names the journal beside the database file.
const recordJournalSuffix = "-records"

// recordGatherWait is how long the committer, woken by a record, waits for
// more before it commits, unless maxRowsUnsynced records wait already, a
// reader waits for them (drain) or the Store closes. Why: woken for every
// append, it committed one or two records at a time, and a commit's CPU
// (~40 µs for one record, ~16 µs per record in a commit of 16) was a
// quarter of the server's CPU per signed call although no answer waits
// for it. The wait delays only the commit: the record is in the file
// (safe from a crash of the process) before its answer, and a reader
// never waits for it.
const recordGatherWait = 4 * time.Millisecond

// maxJournalPending bounds the records that wait for their commit; beyond,
// appends commit themselves (and wait for the writer like any commit).
const maxJournalPending = 4096

// maxJournalBytes is the file's size beyond which the committer commits
// every waiting record with appends held, to empty the file, when a steady
// flow of records never leaves it empty by itself; and beyond which, when
// the file cannot be emptied (its truncate fails), append leaves records
// to their callers rather than let it grow until the disk is full.
const maxJournalBytes = 4 << 20

// recordJournal is the Store's journal of records not yet committed.
type recordJournal struct {
	f   *os.File
	log *slog.Logger

	mu        sync.Mutex
	buf       []byte        // the frames of one append (reused)
	pending   []store.Event // journalled, not yet committed, in order
	written   uint64        // records journalled since the open
	committed uint64        // of those, committed
	size      int64         // the file's length
	failing   bool          // the last commit failed: appends commit themselves
	torn      bool          // past size, the file holds a failed write's part, which a cut failed to remove
	cutFails  bool          // the file's emptying failed (logged once) and has not worked since
	closed    bool
	progress  chan struct{} // closed (and replaced) when committed grows or the committer stops

	wake chan struct{} // a record waits (buffered, 1)
	// hurry ends the committer's wait for company (gather): a full batch
	// waits, or a reader does (buffered, 1).
	hurry chan struct{}
	stop  chan struct{} // Close: commit what waits and return
	done  chan struct{} // the committer returned

	// retry is the wait after a failed commit (tests shorten it).
	retry time.Duration
	// gatherWait is the committer's wait for company (recordGatherWait;
	// tests lengthen it); gatherTimer times it, reused.
	gatherWait  time.Duration
	gatherTimer *time.Timer
	// onCommit, when set (tests), is called by the committer with the
	// number of records each successful commit held.
	onCommit func(n int)

	// lateSync syncs the file while a commit takes longer than
	// UnsyncedWindow (syncWhileLate); committing is set while one runs.
	lateSync   *time.Timer
	committing atomic.Bool
	// rewriteDue: a sync of the file failed, and the file has not been
	// written again since (syncFile).
	rewriteDue atomic.Bool
	// sync puts the file on the disk (f.Sync; tests count the calls).
	sync func() error
	// write and truncate are f.Write and f.Truncate (tests make them fail).
	write    func([]byte) (int, error)
	truncate func(int64) error
}

// openRecordJournal commits the records a previous process left in the
// journal at path (up to a torn last frame, which a crash of the machine
// can leave; past a frame damaged in the middle of the file, logged as an
// error: replayJournal) with s's durable writer, empties the file and
// starts the committer.
func openRecordJournal(ctx context.Context, s *Store, path string) (*recordJournal, error) {
	return openRecordJournalWith(ctx, s, path, syncFile)
}

// openRecordJournalWith is openRecordJournal with the directory's sync
// (syncFile; tests inject a failing or counting one). When the directory
// cannot be synced it returns no journal and no error: the Store commits
// each record in its caller, as without a journal, rather than answer
// from a file that a power loss could take away.
func openRecordJournalWith(ctx context.Context, s *Store, path string, syncDir func(string) error) (*recordJournal, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("record journal: %w", err)
	}
	evs, dropped := replayJournal(data)
	if len(evs) > 0 {
		// INSERT OR IGNORE: a record whose commit the crash did not stop
		// is in the database already.
		insert := "INSERT OR IGNORE INTO events (" + eventCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		err := s.writeTx(ctx, func(tx *cachedTx) error {
			for i := range evs {
				e := &evs[i]
				if _, err := tx.ExecContext(ctx, insert, e.EventID, optMicros(e.EventTime), e.EventSource, e.EventName, boolInt(e.ReadOnly),
					e.Username, e.AccessKeyID, e.ResourceType, e.ResourceName, e.ErrorCode, e.TunnelID, e.RequestID, e.Body); err != nil {
					return fmt.Errorf("event %s: %w", e.EventID, err)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("record journal: committing %d records left by the last run: %w", len(evs), err)
		}
	}
	switch {
	case dropped.middle:
		// Not a torn last write: the file was damaged where frames
		// that may hold records answered to clients had been written.
		s.log.Error("sqlstore: record journal: frames that do not check in the middle of the journal; their records are lost",
			"path", path, "records", len(evs), "dropped_bytes", dropped.droppedBytes, "dropped_frames", dropped.droppedFrames)
	case dropped.droppedBytes > 0 || len(evs) > 0:
		s.log.Info("sqlstore: committed the records journalled before the last stop", "records", len(evs), "torn_bytes", dropped.droppedBytes)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("record journal: %w", err)
	}
	// At every open, not only when the file is new: one left by a run
	// that did not sync its directory (before s15) may not be on the disk
	// either. One sync per start.
	if err := syncDir(filepath.Dir(path)); err != nil {
		s.log.Warn("sqlstore: record journal: cannot sync its directory; read-only calls' records commit before their answers", "dir", filepath.Dir(path), "err", err)
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("record journal: %w", err)
		}
		return nil, nil
	}
	j := &recordJournal{f: f, log: s.log, progress: make(chan struct{}), wake: make(chan struct{}, 1),
		hurry: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		retry: 100 * time.Millisecond, gatherWait: recordGatherWait, sync: f.Sync, write: f.Write, truncate: f.Truncate}
	j.lateSync = time.AfterFunc(time.Hour, j.syncWhileLate)
	j.lateSync.Stop()
	go j.run(s)
	return j, nil
}

// append journals evs; false when the journal does not take them (the
// caller commits them itself).
func (j *recordJournal) append(evs []store.Event) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed || j.failing || len(j.pending)+len(evs) > maxJournalPending {
		return false
	}
	if j.torn {
		// A failed write's part would hide these frames from the next
		// open: cut it off first.
		if err := j.cut(j.size); err != nil {
			return false
		}
		j.torn = false
	}
	if j.size > maxJournalBytes && len(j.pending) == 0 {
		// Every record is committed but the committer could not empty
		// the file (truncate failed): cut it here, or leave the records
		// to their callers, so that a file that cannot be emptied stops
		// growing at maxJournalBytes instead of filling the disk.
		if err := j.cut(0); err != nil {
			j.cutFailed(err)
			return false
		}
		j.size = 0
		j.cutWorked()
	}
	buf := j.buf[:0]
	for i := range evs {
		buf = appendFrameOf(buf, &evs[i], i < len(evs)-1)
	}
	j.buf = buf
	n, err := j.write(buf)
	if err != nil && n < len(buf) {
		// A part written is a torn frame, which would hide the frames
		// after it from the next open: cut it off. When the cut fails,
		// the whole frames of the part still do not count (the last
		// frame of the append is torn), and appends commit themselves
		// until a cut works.
		if n > 0 {
			if terr := j.cut(j.size); terr != nil {
				j.torn = true
				j.log.Warn("sqlstore: record journal: cutting off a failed write", "err", terr)
			}
		}
		j.log.Warn("sqlstore: record journal: write failed; committing records directly", "err", err)
		return false
	}
	// (An error with every byte written: the frames are whole, so the
	// next open would commit them; the journal takes them.)
	j.size += int64(n)
	j.pending = append(j.pending, evs...)
	j.written += uint64(len(evs))
	select {
	case j.wake <- struct{}{}:
	default:
	}
	if len(j.pending) >= maxRowsUnsynced {
		j.hurryUp()
	}
	return true
}

// cut truncates the file to size (j.mu held). A truncate that reports an
// error may still have taken effect (an error raised after the length
// changed, on a network or FUSE file system): the file's length is read
// back, and a cut that took effect counts as done. Counted as failed, it
// left size at the old length while appends went on at the real one, and
// a later cut of a torn write to that size extended the file with zeros
// after the torn part, hiding every frame appended after from the next
// open. Only a failed truncate pays for the Stat.
func (j *recordJournal) cut(size int64) error {
	err := j.truncate(size)
	if err != nil {
		fi, serr := j.f.Stat()
		if serr != nil || fi.Size() != size {
			return err
		}
		j.log.Warn("sqlstore: record journal: a truncate reported an error but took effect", "size", size, "err", err)
	}
	if size == 0 {
		j.rewriteDue.Store(false) // nothing left to write again
	}
	return nil
}

// cutFailed logs (j.mu held) that the file cannot be emptied, once until
// it can: at every commit, a failing disk logged a line per
// recordGatherWait until the file reached maxJournalBytes, and then
// nothing while every record commits in its caller.
func (j *recordJournal) cutFailed(err error) {
	if !j.cutFails {
		j.cutFails = true
		j.log.Warn("sqlstore: record journal: cannot empty the file; past its bound read-only calls' records commit in their callers until it can",
			"bound_bytes", maxJournalBytes, "err", err)
	}
}

// cutWorked logs (j.mu held) that the file is emptied again after
// cutFailed.
func (j *recordJournal) cutWorked() {
	if j.cutFails {
		j.cutFails = false
		j.log.Info("sqlstore: record journal: the file is emptied again")
	}
}

// hurryUp ends the committer's wait for company, now or, when it does not
// wait, its next (which then finds the records it would wait for). It
// never blocks.
func (j *recordJournal) hurryUp() {
	select {
	case j.hurry <- struct{}{}:
	default:
	}
}

// gather waits, before a commit, for more records to commit with it
// (recordGatherWait): until a full batch waits, a reader waits for the
// records (hurryUp), the Store closes or j.gatherWait passes.
func (j *recordJournal) gather() {
	j.mu.Lock()
	full := len(j.pending) >= maxRowsUnsynced
	j.mu.Unlock()
	if full || j.gatherWait <= 0 {
		return
	}
	if j.gatherTimer == nil {
		j.gatherTimer = time.NewTimer(j.gatherWait)
	} else {
		j.gatherTimer.Reset(j.gatherWait) // since Go 1.23 no stale tick survives Reset
	}
	select {
	case <-j.gatherTimer.C:
	case <-j.hurry:
		j.gatherTimer.Stop()
	case <-j.stop:
		j.gatherTimer.Stop()
	}
}

// run commits the waiting records until Close.
func (j *recordJournal) run(s *Store) {
	defer close(j.done)
	for {
		select {
		case <-j.wake:
		case <-j.stop:
			j.commitWaiting(s, true)
			return
		}
		j.gather()
		j.commitWaiting(s, false)
	}
}

// commitWaiting commits the waiting records, maxRowsUnsynced at a time, and
// empties the file once none waits. A failed commit is tried again after
// j.retry (appends commit themselves meanwhile); stopping, it is left for
// the next open.
func (j *recordJournal) commitWaiting(s *Store, stopping bool) {
	locked := false // held from the last batch: the file is being emptied
	for {
		if !locked {
			j.mu.Lock()
		}
		locked = false
		if len(j.pending) == 0 {
			// Every record is committed: the commits work again, even
			// when the emptying below fails (the next pass retries it).
			// Left set, failing would keep the journal off for good: no
			// append wakes this goroutine while it refuses them.
			j.failing = false
			if j.size > 0 || j.torn {
				if err := j.cut(0); err != nil {
					j.cutFailed(err)
				} else {
					j.size, j.torn = 0, false
					j.cutWorked()
				}
			}
			j.mu.Unlock()
			return
		}
		hold := j.size > maxJournalBytes // commit with appends held, to empty the file
		n := min(len(j.pending), maxRowsUnsynced)
		batch := j.pending[:n:n]
		if !hold {
			j.mu.Unlock()
		}
		// A commit that waits (the writer held by a long transaction, a
		// slow disk) would leave answered records in the file, not on the
		// disk, for as long: past UnsyncedWindow the file is synced, and
		// again each UnsyncedWindow until the commit returns.
		j.committing.Store(true)
		j.lateSync.Reset(UnsyncedWindow)
		err := j.commit(s, batch)
		j.committing.Store(false)
		j.lateSync.Stop()
		if !hold {
			j.mu.Lock()
		}
		if err != nil {
			if !j.failing {
				// The records wait in the file for longer than a commit:
				// put them on the disk (the bound UnsyncedWindow gives).
				if serr := j.syncFile(true); serr != nil {
					j.log.Warn("sqlstore: record journal: syncing the file", "err", serr)
				}
				// Readers waiting for these records (drain) stop waiting.
				close(j.progress)
				j.progress = make(chan struct{})
			}
			j.failing = true
			j.mu.Unlock()
			j.log.Error("sqlstore: record journal: commit failed; records kept in the journal", "records", len(batch), "err", err)
			if stopping {
				return
			}
			select {
			case <-time.After(j.retry):
			case <-j.stop:
				stopping = true
			}
			continue
		}
		j.pending = j.pending[n:]
		if len(j.pending) == 0 {
			j.pending = nil
		}
		j.committed += uint64(n)
		if j.onCommit != nil {
			j.onCommit(n)
		}
		close(j.progress)
		j.progress = make(chan struct{})
		if hold {
			// Appends stay held until the file is emptied: released
			// between batches, they would take each batch's place and
			// the file would grow without end under a steady flow.
			locked = true
			continue
		}
		j.mu.Unlock()
	}
}

// commit stores batch in one statement (appendRowsUnsynced); a conflict
// (an id stored before: a record journalled twice) stores the batch with
// INSERT OR IGNORE, keeping the record stored first.
func (j *recordJournal) commit(s *Store, batch []store.Event) error {
	ctx := context.Background()
	err := s.appendRowsUnsynced(ctx, batch)
	if err == nil || !errors.Is(err, store.ErrConflict) && s.d.classify(err) != errBusy {
		return err
	}
	insert := "INSERT OR IGNORE INTO events (" + eventCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return s.groupWriteOn(&s.unsyncedGroup, ctx, func(q querier) error {
		for i := range batch {
			e := &batch[i]
			if _, err := q.ExecContext(ctx, insert, e.EventID, optMicros(e.EventTime), e.EventSource, e.EventName, boolInt(e.ReadOnly),
				e.Username, e.AccessKeyID, e.ResourceType, e.ResourceName, e.ErrorCode, e.TunnelID, e.RequestID, e.Body); err != nil {
				return fmt.Errorf("event %s: %w", e.EventID, s.classified(err))
			}
		}
		return nil
	})
}

// syncWhileLate, the lateSync timer's function, syncs the file and, while
// the commit still runs, arms the timer again.
func (j *recordJournal) syncWhileLate() {
	if err := j.syncFile(false); err != nil && !errors.Is(err, os.ErrClosed) {
		j.log.Warn("sqlstore: record journal: syncing the file", "err", err)
	}
	if j.committing.Load() {
		j.lateSync.Reset(UnsyncedWindow)
	}
}

// syncFile syncs the file (j.sync); locked says whether the caller holds
// j.mu. A failed sync is not repeated by the next one: on Linux the
// kernel marks the pages it failed to write clean, and the next fsync
// returns 0 without them. So after a failed sync the file is written
// again over itself (rewriteLocked: its pages dirty again), at once when
// j.mu can be had (no append or cut may run meanwhile), else before the
// next sync that can have it; the sync that follows covers the records.
// Emptying the file (cut) makes the rewrite moot.
func (j *recordJournal) syncFile(locked bool) error {
	rewrite := func() {
		if !locked && !j.mu.TryLock() {
			return // a commit holds the appends (hold): the next sync
		}
		if err := j.rewriteLocked(); err == nil {
			j.rewriteDue.Store(false)
		} else {
			j.log.Warn("sqlstore: record journal: writing the file again after a failed sync", "err", err)
		}
		if !locked {
			j.mu.Unlock()
		}
	}
	if j.rewriteDue.Load() {
		rewrite()
	}
	err := j.sync()
	if err != nil && !errors.Is(err, os.ErrClosed) {
		if !j.rewriteDue.Swap(true) {
			j.log.Warn("sqlstore: record journal: a sync of the file failed; the file is written again for the next sync", "err", err)
		}
		rewrite()
	}
	return err
}

// rewriteLocked writes the journal's frames (j.size bytes) again at their
// offsets, through a descriptor of its own (j.f appends). j.mu is held.
func (j *recordJournal) rewriteLocked() error {
	f, err := os.OpenFile(j.f.Name(), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return err
	} else if cur, err := j.f.Stat(); err != nil || !os.SameFile(st, cur) {
		return fmt.Errorf("%s is not the journal's file any more", j.f.Name())
	}
	// Read whole and checked before anything is written: after a failed
	// writeback the kernel may have dropped the pages, and the read then
	// returns what the disk holds (stale bytes, zeros). Written over and
	// synced, that would count as the records on the disk, while the next
	// open stops at the first frame that does not check. (A buffer of
	// the file's size, on a failed sync only.)
	buf := make([]byte, j.size)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return err // io.EOF too: the file is shorter than the journal counts
	}
	if _, good := parseJournal(buf); int64(good) != j.size {
		return fmt.Errorf("%s reads back other than the journal's frames (%d of %d bytes check): "+
			"its records may not reach the disk before their commit", j.f.Name(), good, j.size)
	}
	_, err = f.WriteAt(buf, 0)
	return err
}

// drain waits until every record journalled before it was called is
// committed (or the committer stopped). While the commits fail it does
// not wait: the records stay in the journal, and a reader (LookupEvents,
// the console) would otherwise hang until the disk recovers.
func (j *recordJournal) drain(ctx context.Context) error {
	j.mu.Lock()
	target := j.written
	if j.committed < target {
		j.hurryUp() // the committer may wait for company: not for this reader
	}
	for j.committed < target && !j.closed && !j.failing {
		ch := j.progress
		j.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for journalled records: %w", ctx.Err())
		}
		j.mu.Lock()
	}
	j.mu.Unlock()
	return nil
}

// close commits what waits (what cannot be committed stays in the file,
// for the next open) and closes the file.
func (j *recordJournal) close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	close(j.stop)
	<-j.done
	j.lateSync.Stop()
	return j.f.Close()
}

// A frame: the payload's length (4 bytes, big-endian), the payload (the
// event's text fields, each as a uvarint length and its bytes, then its
// time in microseconds as a varint and a flags byte), and the payload's
// CRC-32 (IEEE, 4 bytes). The flags: read_only (1) and, since s15, "more"
// (2): the next frame is of the same append. The reader commits an
// append's frames only with its last (the one without "more"), so the
// whole frames of a write that failed part-way do not count; a journal
// written before s15 has no "more" flags, each frame counting alone. (The
// open's reader, replayJournal, also keeps the frames of an append whose
// frame in the middle of the file does not check: frames follow it, so
// its write was whole.)

// minFramePayload is the smallest payload the writer frames: eleven empty
// texts, a time and the flags.
const minFramePayload = 11 + 1 + 1

// Frame flags.
const (
	frameReadOnly = 1 << iota
	frameMore
)

// appendFrame appends e's frame, the last of its append, to buf.
func appendFrame(buf []byte, e *store.Event) []byte { return appendFrameOf(buf, e, false) }

// appendFrameOf appends e's frame to buf; more: another frame of the same
// append follows.
func appendFrameOf(buf []byte, e *store.Event, more bool) []byte {
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, 0)
	for _, f := range eventTexts(e) {
		buf = binary.AppendUvarint(buf, uint64(len(*f)))
		buf = append(buf, *f...)
	}
	buf = binary.AppendVarint(buf, optMicros(e.EventTime))
	flags := byte(boolInt(e.ReadOnly))
	if more {
		flags |= frameMore
	}
	buf = append(buf, flags)
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start-4))
	return binary.BigEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf[start+4:]))
}

// eventTexts are e's text fields, in frame order.
func eventTexts(e *store.Event) [11]*string {
	return [11]*string{&e.EventID, &e.EventSource, &e.EventName, &e.Username, &e.AccessKeyID, &e.ResourceType,
		&e.ResourceName, &e.ErrorCode, &e.TunnelID, &e.RequestID, &e.Body}
}

// parseJournal reads the frames of data up to the first that is torn or
// does not check, and returns the records of the appends whose last frame
// it read; good is the length of data those appends take.
func parseJournal(data []byte) (evs []store.Event, good int) {
	whole := 0 // evs[:whole] are of appends read to their last frame
	for rest := data; ; {
		e, more, size, st := readFrame(rest)
		if st != frameChecks {
			break
		}
		evs = append(evs, e)
		rest = rest[size:]
		if !more {
			whole, good = len(evs), len(data)-len(rest)
		}
	}
	if whole == 0 {
		return nil, good
	}
	return evs[:whole:whole], good
}

// What readFrame found at the start of its bytes.
const (
	frameChecks = iota // a whole frame, whose payload checks and parses
	frameBad           // a frame whose payload parses at its length but does not check: damaged where its length is right
	frameTorn          // fewer bytes than a frame's header, or a length past them
	// frameUnsized: a length that fits in the bytes but whose payload does
	// not parse at it (zeros, a damaged length, or damaged field lengths):
	// the length cannot be trusted to lead to the next frame (RF19).
	frameUnsized
)

// readFrame reads the frame at the start of rest: its record, whether
// another frame of the same append follows, its size (with the length and
// the CRC) and what it found. size is set unless the frame is torn.
func readFrame(rest []byte) (e store.Event, more bool, size int, state int) {
	// Compared as uint64: a length near 4 GiB must not wrap an int on a
	// 32-bit build and panic the open that replays the file.
	if len(rest) < 8 || uint64(binary.BigEndian.Uint32(rest)) > uint64(len(rest)-8) {
		return e, false, 0, frameTorn
	}
	n := int(binary.BigEndian.Uint32(rest))
	payload := rest[4 : 4+n]
	if crc32.ChecksumIEEE(payload) != binary.BigEndian.Uint32(rest[4+n:]) {
		// The CRC does not cover the length: one that is not the frame's
		// own (its fields end elsewhere) would skip into the middle of a
		// record, whose text (what a client sent) may hold a frame that
		// checks.
		if !framePayloadFits(payload) {
			return e, false, 8 + n, frameUnsized
		}
		return e, false, 8 + n, frameBad
	}
	e, more, ok := parseFrame(payload)
	if !ok {
		return e, false, 8 + n, frameUnsized
	}
	return e, more, 8 + n, frameChecks
}

// framePayloadFits reports whether p's fields, as parseFrame reads them,
// end exactly at its end (without copying them).
func framePayloadFits(p []byte) bool {
	for range 11 {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return false
		}
		p = p[k+int(l):]
	}
	_, k := binary.Varint(p)
	return k > 0 && len(p) == k+1 && p[k]&^(frameReadOnly|frameMore) == 0
}

// journalReplay is what the open's reading of the journal left out
// (replayJournal).
type journalReplay struct {
	droppedBytes int // bytes of the file whose records are not committed
	// droppedFrames are the frames known among them: that do not check,
	// of an append that did not end, found in the tail (a frame whose
	// length was lost, zeroed, cannot be counted).
	droppedFrames int
	// middle: frames that may hold records answered to clients were
	// dropped, not a torn tail alone.
	middle bool
}

// maxReplayScan bounds the bytes that replayJournal's search of the tail
// checksums (a diagnosis only; ~10 ms of CRC-32): past it, the tail
// counts as hiding frames.
const maxReplayScan = 64 << 20

// replayJournal reads the records of data for the open, past frames that
// do not check (corrupt in the middle of the file, not cut short by a
// crash): such a frame is skipped by its length, where the next frame
// starts, and the records of the frames after it are kept, with those
// before it in the same append (an append followed by more frames was
// written whole). What follows the last whole append is the tail, dropped:
// the part of a torn last write (a crash of the machine), or what lies
// past a length that cannot be trusted (one past the end of the file).
//
// A frame is skipped only when its payload's fields end exactly at its
// length (the damage is in the payload or the CRC, not in the length);
// otherwise (zeros, a damaged length) the rest is tail (RF19).
//
// Why skip only by a frame's length, never by searching the bytes for the
// next frame: the format has no marker between frames, and a record's
// text fields hold what clients sent, so a search could take bytes inside
// a record for a frame of their own. The length is not covered by the
// CRC: a corrupt one is not followed (its payload's fields do not end
// there), for it leads into the middle of a frame, whose text may hold a
// frame that checks.
// The search serves only to tell a torn tail (no whole frame in it, after
// the unended append's: the quiet case) from one that hides frames
// (records answered to clients were lost: middle).
func replayJournal(data []byte) (evs []store.Event, r journalReplay) {
	whole, keptBytes := 0, 0 // evs[:whole] are kept; their frames' bytes
	var unendedBytes int     // the bytes of evs[whole:]'s frames
	var tailStarts []int     // where evs[whole:]'s frames start
	bad, firstBad := 0, -1   // frames that do not check since the last append's end; where the first starts
	badSeen := false         // since the last append's end, a frame that does not check (or zeros)
	badThenWhole := false    // since the last append's end, a frame that checks followed one that does not
	pos := 0
	for pos < len(data) { // each frame moves pos on by 8 bytes or more
		e, more, size, st := readFrame(data[pos:])
		if st == frameTorn || st == frameUnsized {
			if st == frameUnsized && size-8 >= minFramePayload { // likely a frame of the writer's, its length damaged
				bad++
			}
			break
		}
		if st == frameBad {
			if firstBad < 0 {
				firstBad = pos
			}
			if size-8 >= minFramePayload { // not a run of zeros: a frame of the writer's
				bad++
			}
			badSeen = true
			pos += size
			continue
		}
		badThenWhole = badThenWhole || badSeen
		evs = append(evs, e)
		tailStarts = append(tailStarts, pos)
		unendedBytes += size
		pos += size
		if !more {
			whole, keptBytes = len(evs), keptBytes+unendedBytes
			r.droppedFrames += bad
			r.middle = r.middle || badSeen
			unendedBytes, tailStarts, bad, firstBad, badSeen, badThenWhole = 0, tailStarts[:0], 0, -1, false, false
		}
	}
	r.droppedBytes = len(data) - keptBytes
	r.droppedFrames += bad + len(evs) - whole
	// The tail from its first frame that does not check (or the torn
	// end): a frame that checks anywhere in it, other than the unended
	// append's frames read above, was lost behind a corrupt length.
	from := pos
	if firstBad >= 0 {
		from = firstBad
	}
	found, complete := framesIn(data, from, tailStarts)
	r.droppedFrames += found
	r.middle = r.middle || found > 0 || !complete || badThenWhole
	return evs[:whole:whole], r
}

// framesIn counts the frames that check at any offset of data from from
// on, but those starting at skip (ascending); a frame found is passed over
// whole. complete is false when the search stopped at maxReplayScan.
func framesIn(data []byte, from int, skip []int) (found int, complete bool) {
	budget := maxReplayScan
	for at := from; at+8 <= len(data); {
		for len(skip) > 0 && skip[0] < at {
			skip = skip[1:]
		}
		n := binary.BigEndian.Uint32(data[at:])
		if uint64(n) > uint64(len(data)-at-8) {
			at++
			continue
		}
		if budget -= int(n); budget < 0 {
			return found, false
		}
		if _, _, size, st := readFrame(data[at:]); st == frameChecks {
			if len(skip) == 0 || skip[0] != at {
				found++
			}
			at += size
			continue
		}
		at++
	}
	return found, true
}

// parseFrame decodes a frame's payload; more: the next frame is of the
// same append.
func parseFrame(p []byte) (e store.Event, more, ok bool) {
	for _, f := range eventTexts(&e) {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return e, false, false
		}
		*f, p = string(p[k:k+int(l)]), p[k+int(l):]
	}
	us, k := binary.Varint(p)
	if k <= 0 || len(p) != k+1 || p[k]&^(frameReadOnly|frameMore) != 0 {
		return e, false, false
	}
	e.EventTime, e.ReadOnly = fromOptMicros(us), p[k]&frameReadOnly != 0
	return e, p[k]&frameMore != 0, true
}
