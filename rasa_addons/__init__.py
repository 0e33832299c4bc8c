"""Extensions loaded by the Rasa server (not the action server): input channels that check what
they are sent, and a response generator that knows the office's contact details."""
