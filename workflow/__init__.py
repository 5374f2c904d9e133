"""The appeal lifecycle: state machine, deadlines, numbering and the service the dialogs call."""
