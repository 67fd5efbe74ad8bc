" .pipe files are pipe pipelines.
autocmd BufRead,BufNewFile *.pipe setfiletype pipe
