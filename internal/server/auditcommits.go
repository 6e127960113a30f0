package server

// AuditCommitted returns a channel closed at the next commit of audit
// records after the call (audit.Writer.Committed), for tests and tools
// that wait for a record without polling the store; nil (never closed)
// before the server has its audit writer.
func (s *Server) AuditCommitted() <-chan struct{} { return s.audit.Committed() }
