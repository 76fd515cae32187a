// Reference: dlib's own face-recognition net on raw inputs, to check the numpy port.
#include <dlib/dnn.h>
#include <dlib/image_transforms.h>
#include <dlib/image_processing/full_object_detection.h>
#include <fstream>
#include <iostream>
using namespace dlib;
using namespace std;

template <template <int,template<typename>class,int,typename> class block, int N, template<typename>class BN, typename SUBNET>
using residual = add_prev1<block<N,BN,1,tag1<SUBNET>>>;
template <template <int,template<typename>class,int,typename> class block, int N, template<typename>class BN, typename SUBNET>
using residual_down = add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,BN,2,tag1<SUBNET>>>>>>;
template <int N, template <typename> class BN, int stride, typename SUBNET>
using block  = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>;
template <int N, typename SUBNET> using ares      = relu<residual<block,N,affine,SUBNET>>;
template <int N, typename SUBNET> using ares_down = relu<residual_down<block,N,affine,SUBNET>>;
template <typename SUBNET> using alevel0 = ares_down<256,SUBNET>;
template <typename SUBNET> using alevel1 = ares<256,ares<256,ares_down<256,SUBNET>>>;
template <typename SUBNET> using alevel2 = ares<128,ares<128,ares_down<128,SUBNET>>>;
template <typename SUBNET> using alevel3 = ares<64,ares<64,ares<64,ares_down<64,SUBNET>>>>;
template <typename SUBNET> using alevel4 = ares<32,ares<32,ares<32,SUBNET>>>;
using anet_type = loss_metric<fc_no_bias<128,avg_pool_everything<
    alevel0<alevel1<alevel2<alevel3<alevel4<
    max_pool<3,3,2,2,relu<affine<con<32,7,7,2,2,
    input_rgb_image_sized<150>>>>>>>>>>>>>;

template <size_t i, typename F>
void dump_all(anet_type& net, F& show) {
    if constexpr (i + 1 < anet_type::num_layers) {
        show(("L" + std::to_string(i)).c_str(), layer<i>(net).get_output());
        dump_all<i + 1>(net, show);
    }
}

// usage: ref MODEL chips RAW N        -> N descriptors of 150x150 RGB chips
//        ref MODEL align RAW H W x0 y0 .. x4 y4 OUTCHIP -> chip of a HxW RGB image + descriptor
//        ref MODEL layers RAW          -> per-layer output shapes and first values for one chip
int main(int argc, char** argv) try {
    anet_type net;
    deserialize(argv[1]) >> net;
    string mode = argv[2];
    ifstream in(argv[3], ios::binary);
    if (mode == "chips" || mode == "layers") {
        long n = mode == "chips" ? atol(argv[4]) : 1;
        std::vector<matrix<rgb_pixel>> chips(n);
        for (auto& c : chips) { c.set_size(150,150); in.read((char*)&c(0,0), 150*150*3); }
        if (mode == "chips") {
            auto d = net(chips);
            cout.precision(9);
            for (auto& v : d) { for (long i = 0; i < v.size(); ++i) cout << v(i) << " "; cout << "\n"; }
        } else {
            net(chips);
            cout << net << "\n";
            // outputs of a few layers: index in dlib's numbering, top (0) to bottom
            auto show = [](const char* name, const tensor& t) {
                cout << name << " " << t.num_samples() << " " << t.k() << " " << t.nr() << " " << t.nc();
                const float* p = t.host();
                double s = 0; for (size_t i = 0; i < t.size(); ++i) s += p[i];
                cout.precision(9);
                cout << " sum " << s << " first " << p[0] << " " << p[1] << " " << p[2] << "\n";
            };
            dump_all<1>(net, show);
        }
    } else if (mode == "align") {
        long h = atol(argv[4]), w = atol(argv[5]);
        matrix<rgb_pixel> img(h, w);
        in.read((char*)&img(0,0), h*w*3);
        std::vector<point> parts;
        for (int i = 0; i < 5; ++i) parts.push_back(point(atol(argv[6+2*i]), atol(argv[7+2*i])));
        full_object_detection det(rectangle(0,0,w-1,h-1), parts);
        matrix<rgb_pixel> chip;
        extract_image_chip(img, get_face_chip_details(det,150,0.25), chip);
        ofstream out(argv[16], ios::binary);
        out.write((char*)&chip(0,0), 150*150*3);
        auto d = net(chip);
        cout.precision(9);
        for (long i = 0; i < d.size(); ++i) cout << d(i) << " "; cout << "\n";
    }
    return 0;
} catch (std::exception& e) { cerr << e.what() << endl; return 1; }
