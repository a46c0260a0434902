!cross_entropy_prob_smooth_mean_3d
x"—
target"ƒ
x€g¿>Ä>yÀ=Ýa>ƒ>¤Ìþ=«²=-?‰>g½f>4—>)B>¿Í/>‹X†>ü}b>ÁF>ã–ˆ>ø`†>Hl>qXa>S~£<œÌD>Ñ„@>áO>‚P>õ´Z>6‘V>+—b> 9>á3>>Z>*U
opcross_entropyxtarget"op*
label_smoothing	š™™™™™¹?*
	reductionmean2op:
op