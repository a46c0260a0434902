cross_entropy_prob_mean
x"•
target"‚
xè ³=‹ù2>l²F>¥V>…XN>…>Â[Y>Zš²<éª>(]O>ºI>?T>?êS>@‡>|Ø	=@V~=mÓ˜>ýí…>k˜C>ƒ%Ž==ø‘>KYC>"¶H>Ü©Š=ïhU>—D>È»r>ÂYn>­Ô=–ê¼=*"
opcross_entropyxtarget"op2op:
op