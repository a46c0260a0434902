mse_loss_2d
x"d
target"R
H0ø¿S?eøG¿>ÏÚ>Z"§>:?`&ç>µF¿xo²¿O5¦?y. ¿÷8?¿¿ÓıÕ¾¼½¼¸H|=g¶€?ºÌ?*
opmse_lossxtarget"op2op:
op