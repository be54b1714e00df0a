"""Where tasks run: a pool of local worker processes (``pool``) or a Dask cluster
(``dask_cluster``), behind one ``map`` interface. No TensorFlow and no campaign logic here:
the task bodies live in ``search.worker``."""
