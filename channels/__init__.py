"""The assistant's chat channels, all named in credentials.yml, and which of them run.

rest (the REST channel) and webchat (socket.io, the chat page) go through guard, the checks and
fallbacks of every public channel; connectors holds the messaging apps; settings decides which
channels run, from the secrets that are set.
"""
