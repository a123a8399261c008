"""The running org without a screen: supervisor, control API and its client, screen reading, delivery,
deployment, hooks. It never imports the TUI."""
