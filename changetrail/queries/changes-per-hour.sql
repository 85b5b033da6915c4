-- Changes per table, hour and event
SELECT "table", date_trunc('hour', modificationTime) AS hour, eventName, count(*) AS changes
FROM changes
GROUP BY ALL
ORDER BY ALL
