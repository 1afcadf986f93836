package server

import "sync"

// streams tracks open server-sent-event streams so that shutdown can end
// them instead of waiting for clients to hang up.
type streams struct {
	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

func (s *streams) doneChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

// CloseStreams ends every open event stream and cancels the tests running
// in the background (waiting for them to end); call it at shutdown.
func (s *Server) CloseStreams() {
	defer s.tests.cancelAll()
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	if s.streams.done == nil {
		s.streams.done = make(chan struct{})
	}
	if !s.streams.closed {
		s.streams.closed = true
		close(s.streams.done)
	}
}
