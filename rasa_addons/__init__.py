"""What this project adds to the Rasa server (the action server is actions/): patches to Rasa and
custom components.

- Patches, applied only by the entry point `python -m rasa_addons.server run ...` (server), never on
  import: the speed fixes (speedups) and the bound on the wait for a custom action.
- Components named in config.yml and endpoints*.yml: NLU components (nlu), the response generator
  that knows the office's contact details (nlg), the tracker and lock stores (stores).

The chat channels are in channels/.
"""
