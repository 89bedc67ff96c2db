"""asyncio transports: the only place with sockets. Protocol callbacks never await."""
