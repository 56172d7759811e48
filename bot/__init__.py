"""The Telegram side of learnbot: settings, CLI, dispatcher, routers, delivery and transports."""
