"""The console's screens and dialogs, one per file, each styled by the .tcss beside it."""
