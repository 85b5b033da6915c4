-- Every change to one item, oldest first: $item (its itemKey)
SELECT modificationTime, "table", eventName, changedAttributes, oldImage, newImage
FROM changes
WHERE itemKey = $item
ORDER BY modificationTime, length(sequenceNumber), sequenceNumber
