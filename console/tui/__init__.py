"""The console's screen: the Textual app over one supervisor, and its dialogs."""
