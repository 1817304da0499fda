"""The three Q-Bench tasks: A1 perception, A2 description, A3 assessment."""
