-- Campanile delete sync (`rsync --delete` on a cluster): which destination objects the
-- source has no key for.
--
-- Run by the rsync plan, after the copy, as
--   hive-script --run-hive-script --args -f <code>/delete.q -d SRC=<dir> -d DST=<dir> -d DIFF=<dir>
-- SRC holds the source's keys (bucketlist output: the source listing, or its key
-- listing when the run's size, date or --restored filters left keys out of it); DST
-- the destination listing, written in the source's key space. DIFF receives every
-- destination row followed by a fifth field: `-` when the source has no such key,
-- else the source's ETag. The delete step (objectdelete --select, then its single
-- reducer) counts the rows (for --max-delete N%) and deletes those marked `-`. Skip
-- rows of either side have the same four columns: a source skip row still names a key
-- the source holds; a destination skip row is neither counted nor deleted.
-- Temporary tables keep concurrent runs on one cluster apart.

CREATE TEMPORARY EXTERNAL TABLE campanile_delete_src (key STRING, etag STRING, size BIGINT, mtime STRING)
  ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t' LINES TERMINATED BY '\n'
  STORED AS TEXTFILE LOCATION '${SRC}';

CREATE TEMPORARY EXTERNAL TABLE campanile_delete_dst (key STRING, etag STRING, size BIGINT, mtime STRING)
  ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t' LINES TERMINATED BY '\n'
  STORED AS TEXTFILE LOCATION '${DST}';

INSERT OVERWRITE DIRECTORY '${DIFF}'
  ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t'
  SELECT d.key, d.etag, d.size, d.mtime, coalesce(s.etag, '-')
  FROM campanile_delete_dst d LEFT OUTER JOIN campanile_delete_src s ON (d.key = s.key);
