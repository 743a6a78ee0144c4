package wsq_test

import (
	"fmt"
	"image"

	"github.com/openenroll/stationd/capture/wsq"
)

func Example() {
	// A 500 ppi grey image: stripes standing in for ridges.
	img := image.NewGray(image.Rect(0, 0, 256, 288))
	for i := range img.Pix {
		x, y := i%256, i/256
		img.Pix[i] = uint8(60 + 120*((x+y)/5%2))
	}
	data, err := wsq.Encode(img, 500, wsq.DefaultBitrate)
	if err != nil {
		fmt.Println(err)
		return
	}
	back, ppi, err := wsq.Decode(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(back.Bounds().Size(), ppi, len(data) < len(img.Pix)/8)
	// Output: (256,288) 500 true
}
