cross_entropy_prob_smooth_sum
x"ž
target"‹
€qÅ>ä(==‘´Q>½¼%>MûÙ=™“>D¢<F¥;>¡¹è=YÅ¬=Jý2>/>óuî<j^>;;1>Ç=²`q>v­f>qª<>‡˜=M=ì§>ê£´=!Çˆ=Ôf“>¥ÌŒ=gE>Óò@>[Þ¬<¸ÀÓ=p[£=Lm=*T
opcross_entropyxtarget"op*
label_smoothing	š™™™™™¹?*
	reductionsum2op:
op