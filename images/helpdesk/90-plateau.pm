# Plateau: RT at the site's root, in French when the browser asks for it
# (the desktop's Firefox does), logging to standard error (the service log).
Set($WebPath, "");
Set(@LexiconLanguages, qw(fr en));
Set($LogToSTDERR, "warning");
Set($LogToSyslog, undef);
Set($CanonicalizeRedirectURLs, 0);
1;
