DROP TABLE shared_buckets;
