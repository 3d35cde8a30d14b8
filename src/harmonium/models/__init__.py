"""Models: RBM, classical / modern Hopfield networks, dense associative memory, DBN,
general Boltzmann machines, pairwise Potts models."""
