"""Result files of cells: atomic writes, states, and the leaderboard built from them."""
