"""How updates arrive: long polling (in the CLI), the webhook server, the console."""
