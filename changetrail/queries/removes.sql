-- Every REMOVE, newest first, with the item as it was and whether DynamoDB's TTL removed it (give --from for "since")
SELECT modificationTime, "table", itemKey, expiredByTtl, oldImage
FROM changes
WHERE eventName = 'REMOVE'
ORDER BY modificationTime DESC
