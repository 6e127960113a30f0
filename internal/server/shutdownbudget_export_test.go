package server

// ShutdownBudget is Run's budget for Shutdown, for the external tests.
var ShutdownBudget = shutdownBudget
