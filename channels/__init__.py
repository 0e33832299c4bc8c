"""The assistant's chat channels: Rasa's input channels adjusted for it, and which of them run."""
