-- Who changed an attribute on which items, with its old and new value: $attribute (a top-level attribute name)
SELECT modificationTime, "table", itemKey,
       json_extract(oldImage, '/' || replace(replace($attribute, '~', '~0'), '/', '~1')) AS oldValue,
       json_extract(newImage, '/' || replace(replace($attribute, '~', '~0'), '/', '~1')) AS newValue
FROM changes
WHERE eventName = 'MODIFY' AND list_contains(changedAttributes, $attribute)
ORDER BY modificationTime, itemKey
