cnn_sgd_momentum
x
y"
conv1.weight"

conv1.bias"
conv2.weight"

conv2.bias"
	fc.weight
H"
fc.bias
*C
conv1conv2dxconv1.weight
conv1.bias"c1*
padding*
*
relu1reluc1"r1*2
pool1
max_pool2dr1"p1*
kernel_size*
*D
conv2conv2dp1conv2.weight
conv2.bias"c2*
padding*
*
relu2reluc2"r2*2
pool2
avg_pool2dr2"p2*
kernel_size*
**
flattenreshapep2"f*
shape*
H*+
fclinearf	fc.weightfc.bias"logits*D
losscross_entropylogitsy"loss*
label_smoothing	š™™™™™¹?2logits:%
lossš™™™™™©?ÍÌÌÌÌÌì?A{®Gáz„?