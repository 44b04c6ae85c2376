"""Voice: the call state machine, the TwiML interpreter and the engine that drives calls over carriers."""
