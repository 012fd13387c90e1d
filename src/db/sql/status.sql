-- qoe:status
SELECT wanted.LogCategory, newest.LogTime
FROM (VALUES (@P2, @P1), (@P3, @P1), (@P4, @P1), (@P5, @P1), (@P6, 1), (@P7, 1))
    AS wanted (LogCategory, Depth)
CROSS APPLY (
    SELECT TOP (wanted.Depth) entry.LogTime
    FROM dbo.IntegrationLog AS entry
    WHERE entry.LogCategory = wanted.LogCategory
    ORDER BY entry.LogTime DESC, entry.Id DESC
) AS newest;
