-- qoe:status
SELECT wanted.LogCategory, newest.LogTime
FROM (VALUES (@P2), (@P3), (@P4), (@P5), (@P6), (@P7)) AS wanted (LogCategory)
CROSS APPLY (
    SELECT TOP (@P1) entry.LogTime
    FROM dbo.IntegrationLog AS entry
    WHERE entry.LogCategory = wanted.LogCategory
    ORDER BY entry.LogTime DESC, entry.Id DESC
) AS newest;
